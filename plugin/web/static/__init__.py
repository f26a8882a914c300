# A package only so that setuptools' package-data globs ship counter.js / counter.css with the wheel.
