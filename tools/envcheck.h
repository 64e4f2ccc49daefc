/*
 * envcheck.h - the wrapper's check of the CLEARCAP_* settings it hands to the shim, with the
 * shim's own syntax (shim/config.c), so that a bad value stops `clearcap` with one line before
 * the program starts instead of one line from every process the program runs.
 *
 * shim/config.c cannot be compiled into the command (it needs the writer and the filter), so
 * the syntax is written again here; tests/unit/test_envcheck.c feeds the same values to both
 * and fails when they disagree.
 */
#ifndef CC_ENVCHECK_H
#define CC_ENVCHECK_H

#include <stddef.h>

/* The variables the shim reads at start-up, NULL-terminated. */
extern const char *const cc_envcheck_vars[];

/*
 * Whether the shim would accept val for var (an empty value means "not set", as in the shim).
 * Returns 0, or -1 with a reason (without the variable's name) in why.  A variable the shim
 * does not check is accepted.
 */
int cc_envcheck(const char *var, const char *val, char *why, size_t whylen);

/*
 * The shim's one rule across variables: CLEARCAP_ROTATE_FILES counts files of a rotation, so it
 * needs CLEARCAP_ROTATE_SIZE or CLEARCAP_ROTATE_SECONDS.  Each argument is the value the shim
 * will see (NULL or empty: unset).  Returns 0, or -1 with the reason in why.
 */
int cc_envcheck_rotation(const char *files, const char *size, const char *seconds, char *why, size_t whylen);

/* The shim's sizes: digits with an optional K/M/G (powers of 1024) and "i"/"B"/"iB"; -1 if bad. */
long long cc_envcheck_size(const char *s);

/* The capture classes --capture and CLEARCAP_CAPTURE take, space-separated, for messages. */
extern const char cc_envcheck_classes[];

#endif /* CC_ENVCHECK_H */
