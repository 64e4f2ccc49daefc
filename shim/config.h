/*
 * Configuration from CLEARCAP_* environment variables, read once at start-up.
 */
#ifndef CC_CONFIG_H
#define CC_CONFIG_H

#include <stddef.h>

#include "pcapout/format.h"
#include "pcapout/hep.h"

#define CC_PATH_MAX 4096

struct cc_config {
	int on;                         /* capture in this process */
	char file[CC_PATH_MAX];         /* CLEARCAP_FILE, made absolute */
	enum cc_format format;          /* CLEARCAP_FORMAT */
	size_t buffer;                  /* CLEARCAP_BUFFER, bytes, a power of two */
	char counters[CC_PATH_MAX];     /* CLEARCAP_COUNTERS */
	char keylog[CC_PATH_MAX];       /* CLEARCAP_KEYLOG: NSS key log file, or empty */
	char srtp_keylog[CC_PATH_MAX];  /* CLEARCAP_SRTP_KEYLOG: SRTP master keys, or empty */
	int pipe_header_done;           /* CLEARCAP_PIPE_HEADER=done: the FIFO has its header */
	long long rotate_size;          /* CLEARCAP_ROTATE_SIZE, bytes; 0: no size rotation */
	long rotate_seconds;            /* CLEARCAP_ROTATE_SECONDS; 0: no time rotation */
	long rotate_files;              /* CLEARCAP_ROTATE_FILES; 0: unlimited */
	int ctl;                        /* control file (CLEARCAP_CTL, default on) */
	int started_paused;             /* CLEARCAP_CTL=1 without CLEARCAP_FILE: wait for ctl */
	struct cc_hep_cfg hep;          /* CLEARCAP_HEP and its companions; hep.on when set */
	int verbose;                    /* CLEARCAP_VERBOSE=1 (clearcap -v): libraries found and hooked */
	int plain_mapped;               /* CLEARCAP_PLAIN_MAPPED: plaintext IPv4 as ::ffff:a.b.c.d (default 1) */
};

extern struct cc_config cc_cfg;

/*
 * Reads the environment.  Returns 0 with cc_cfg filled; a bad value is reported in one line naming
 * the variable and leaves capture off.  `prog` and `exe` are the names CLEARCAP_PROGRAMS matches.
 */
int cc_config_load(const char *prog, const char *exe);

/* Parses "16M"-style sizes (K, M, G suffixes, powers of 1024); -1 on error. */
long long cc_parse_size(const char *s);

/* Whether a comma-separated list has a non-empty entry (CLEARCAP_PROGRAMS=",," has none). */
int cc_list_names_some(const char *list);

/* Reasons the wrapper's check (tools/envcheck.c) gives word for word. */
#define CC_ROTATE_SIZE_EXPECTED "expected a size of at least 4096 bytes: digits, optionally followed by K, M or G " \
	"(powers of 1024; KiB, MB and the like too)"
#define CC_ROTATE_FILES_ALONE "needs CLEARCAP_ROTATE_SIZE or CLEARCAP_ROTATE_SECONDS (a count of files with " \
	"nothing to rotate by)"
#define CC_PROGRAMS_EMPTY "names no program (an empty list would capture no process)"

/* True when name matches one entry of a comma-separated list of names or fnmatch patterns. */
int cc_name_in_list(const char *list, const char *name);

#endif
