/* A library that loads fine but implements none of the functions rxlane calls (a wrong DLL configured). */
int SomethingElse(int x) { return x + 1; }
