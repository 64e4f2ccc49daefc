/*
 * usage.h - how the command and its subcommands say a command line is wrong: one line naming
 * the problem and one pointing at --help, exit status 2, never the whole help text (which would
 * bury the line that matters).
 */
#ifndef CC_TOOLS_USAGE_H
#define CC_TOOLS_USAGE_H

#include <getopt.h>

/* Exit status of a usage error, as grep and diff use it. */
#define CC_EXIT_USAGE 2

/*
 * Prints "clearcap[ CMD]: MESSAGE" and "Try 'clearcap[ CMD] --help' ..." on stderr and returns
 * CC_EXIT_USAGE.  cmd is NULL for the wrapper itself.
 */
__attribute__((format(printf, 2, 3)))
int cc_usage_error(const char *cmd, const char *fmt, ...);

/*
 * What getopt_long's c ('?' or ':', with opterr 0 and ':' leading the option string) meant, as
 * one line through cc_usage_error: an unknown option, an option that needs an argument, or a
 * --long=VALUE given to an option that takes none.  Returns CC_EXIT_USAGE.
 */
int cc_usage_bad_option(const char *cmd, int c, char **argv, const struct option *longopts);

#endif /* CC_TOOLS_USAGE_H */
