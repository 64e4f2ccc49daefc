/*
 * Rotation of the capture file, with tcpdump's meanings: a new file when the current one has
 * reached a size (-C) or an age (-G); -W caps the number of files (with -C a ring that starts
 * over, with -G alone the capture stops after that many).
 *
 * Names follow tcpdump's MakeFilename(): with -G the name is strftime(3)-expanded at the time
 * the file is started; then, unless this is count 0 without -W, the count is appended, zero-
 * padded to as many digits as W-1 has (with -C only; -G alone names files by time only): `-C 1 -w f` gives f, f1, f2, ...; `-C 1 -W 3 -w f` gives
 * f0, f1, f2, f0, ...; `-G 60 -w f-%H%M` gives f-1200, f-1201, ...
 *
 * Every process of a capture shares the rotation through a small mapped state file in the
 * runtime directory (rundir.h), named by a hash of FILE: the generation number and the current
 * file's name.  Whoever finds the current file full takes the state file's lock, creates the next
 * file with its header, and publishes it; the others switch after their next batch.
 *
 * A -G -W rotation that has written its files is done: its processes capture no more, as tcpdump
 * exits.  The state also lists the processes that wrote to it, so that a process of a new run
 * (the shim alone has no wrapper to start the rotation afresh) starts a new rotation once none of
 * them runs any more, as a new tcpdump would.
 */
#ifndef CC_ROTATE_H
#define CC_ROTATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cc_rot_cfg {
	long long size;         /* bytes; 0: none */
	long seconds;           /* 0: none */
	long files;             /* 0: unlimited */
};

#define CC_ROT_MAGIC 0x746f7270616363ULL
#define CC_ROT_NAME_MAX 4000
#define CC_ROT_MEMBERS 64

struct cc_rot_state {
	uint64_t magic;
	uint64_t seq;           /* bumped before and after each change (changes hold the lock) */
	uint64_t gen;           /* files started before the current one */
	int64_t start;          /* when the current file was started (seconds since the epoch) */
	int64_t cnt;            /* tcpdump's file count of the current file */
	uint64_t done;          /* -G with -W: the last file is complete, capture stops */
	char name[CC_ROT_NAME_MAX];
	/* The processes that joined (pid and start time, /proc/PID/stat's field 22); pid 0: free. */
	struct cc_rot_member {
		uint32_t pid;
		uint32_t unused;
		uint64_t start;
	} members[CC_ROT_MEMBERS];
	/* The rotation's first file, as started (for the wrapper's summary: started at the first
	 * packet, not at the run's start, with -G its name may not be what the start would give). */
	char first[CC_ROT_NAME_MAX];
};

/* Digits of the count with -W files (tcpdump's getWflagChars); 0 without -W. */
int cc_rot_digits(long files);

/* The name of file `cnt` started at t; returns 0 or -1 (too long). */
int cc_rot_name(char *dst, size_t n, const char *base, const struct cc_rot_cfg *cfg, time_t t, long cnt);

/* The state file's path for capture `base`. */
int cc_rot_state_path(char *dst, size_t n, const char *base);

/*
 * Maps the shared state of `base`, starting it (file 0, now) when it is new, names a file that
 * no longer exists, or is done and none of its members runs.  Returns the mapping or NULL.
 */
struct cc_rot_state *cc_rot_attach(const char *base, const struct cc_rot_cfg *cfg);

/*
 * Lists this process among the rotation's members (once; a forked child joins for itself).  A
 * full list keeps room by forgetting members that have exited.
 */
void cc_rot_join(struct cc_rot_state *s, const char *base);

/* A member that runs: another process if one does, else this one if it is one (an exec of a
 * member), else 0. */
uint32_t cc_rot_member_alive(struct cc_rot_state *s);

/* The first file of the rotation of `base` (its state's, if there is one): 0, or -1 for none. */
int cc_rot_first(const char *base, char *name, size_t n);

/* The current file's name and generation, consistent with each other. */
void cc_rot_current(struct cc_rot_state *s, const char *base, char *name, size_t n, uint64_t *gen);

/*
 * Starts the file after generation `from` unless someone did already: replaces any old file of
 * the next name with a new one holding hdr, then publishes it.  Returns 1 when a new file is
 * current (by us or another process), 0 when the rotation limit is reached (s->done), -1 on error.
 */
int cc_rot_advance(struct cc_rot_state *s, const char *base, const struct cc_rot_cfg *cfg, uint64_t from,
		   const uint8_t *hdr, size_t hlen);

#endif
