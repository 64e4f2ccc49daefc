/*
 * Symbols of optional libraries (libssl, libcrypto, libsrtp2, libpcap), found only in processes
 * that have loaded them.
 *
 * dlsym(RTLD_NEXT) cannot see a library that a module pulled in with dlopen(RTLD_LOCAL) (Python's
 * _ssl, GStreamer plugins): such a library is outside the global scope and the lookup returns NULL.
 * So we walk the loaded objects with dl_iterate_phdr, take a handle on the one we want with
 * RTLD_NOLOAD, and look the symbol up in it.
 */
#ifndef CC_OPTLIB_H
#define CC_OPTLIB_H

/* The symbol `name` of the first loaded object whose file name starts with `soname_prefix`
 * ("libssl.so"), never one of our own hooks; NULL if no such object is loaded (yet). */
void *cc_optsym(const char *soname_prefix, const char *name);

#endif
