#ifndef CZlib_SHIM_H
#define CZlib_SHIM_H
#include <zlib.h>

/* zlib's init functions are macros that pass the library version and struct size; Swift cannot import them. */
static inline int CZlib_inflateInit(z_streamp stream) { return inflateInit(stream); }
static inline int CZlib_deflateInit(z_streamp stream, int level) { return deflateInit(stream, level); }
#endif
