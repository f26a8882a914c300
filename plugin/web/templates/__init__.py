# A package only so that setuptools' package-data globs ship counter.html with the wheel.
