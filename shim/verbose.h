/*
 * clearcap -v (CLEARCAP_VERBOSE=1): one line per process and library on stderr, saying which
 * libraries the shim found in the process and hooks, so a user sees at once why a program's
 * plaintext is there or not.  Nothing is printed otherwise.
 */
#ifndef CC_VERBOSE_H
#define CC_VERBOSE_H

/* The process runs the shim (at start-up, capturing). */
void cc_verbose_loaded(const char *file);

/* A library found and hooked: what it gives ("TLS/DTLS plaintext and secrets"), a symbol of it. */
void cc_verbose_lib(const char *name, const char *gives, const void *sym);

#endif
