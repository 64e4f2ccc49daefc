/*
 * usage.c - usage errors of clearcap and its subcommands (see usage.h).
 */
#include "tools/usage.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cc_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "clearcap%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'clearcap%s%s --help' for more information.\n", cmd ? " " : "", cmd ? cmd : "");
	return CC_EXIT_USAGE;
}

/* The long option named exactly name (len bytes), or NULL: getopt's abbreviations are not guessed. */
static const struct option *long_named(const struct option *longopts, const char *name, size_t len)
{
	for (const struct option *o = longopts; o && o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

int cc_usage_bad_option(const char *cmd, int c, char **argv, const struct option *longopts)
{
	/*
	 * After a long option getopt_long has moved past its word and set optopt to its value (0
	 * when unknown).  Inside a cluster of short ones (-xj) it has not moved yet, and the word
	 * before may be a long option: optopt, the short letter, tells them apart.
	 */
	const char *arg = argv[optind - 1];
	size_t len = strncmp(arg, "--", 2) == 0 ? strcspn(arg + 2, "=") : 0;
	const struct option *o = len ? long_named(longopts, arg + 2, len) : NULL;

	if (len && (optopt == 0 || (o && o->val == optopt))) {

		if (c == ':')
			return cc_usage_error(cmd, "option '--%.*s' needs an argument", (int)len, arg + 2);
		if (arg[2 + len] == '=' && o && o->has_arg == no_argument)
			return cc_usage_error(cmd, "option '--%.*s' takes no argument (give it alone, not --%.*s=...)",
					      (int)len, arg + 2, (int)len, arg + 2);
		return cc_usage_error(cmd, "unknown or ambiguous option '--%.*s'", (int)len, arg + 2);
	}
	if (c == ':')
		return cc_usage_error(cmd, "option -%c needs an argument", optopt);
	return cc_usage_error(cmd, "unknown option -%c", optopt);
}
