/*
 * The output seam: where the writer thread's batches of whole records go.
 *
 * The writer (writer.c) owns the ring and the thread; an output owns a destination.  The capture
 * file (outfile.c: a regular file, a FIFO or the wrapper's pipe, with rotation and reopen) is the
 * first output and the one whose failure stops the capture.  A new output (a network stream to
 * a collector, say) is one file that fills in a struct cc_output and one line in writer.c's
 * outputs[]; its descriptor, if it has one, is kept from the program like the file's.
 *
 * Every function runs on the writer's side: open under the start lock, the others under the
 * drain lock, so an output needs no lock of its own against the writer.
 */
#ifndef CC_OUTPUT_H
#define CC_OUTPUT_H

#include <stddef.h>
#include <sys/uio.h>

struct cc_output {
	const char *name;
	/* Wanted in this process (its configuration asks for it). */
	int (*wanted)(void);
	/* At the process's first frame (and after a failed start, again): 0, or -1 after one warning. */
	int (*open)(void);
	/* One batch: n iovecs of whole records in the capture's format, `packets` of them.  0, or -1
	 * with errno set. */
	int (*write)(struct iovec *iov, int n, int packets, size_t bytes);
	/* After each batch and each idle tick: requests (reopen), rotation by time. */
	void (*poll)(size_t written);
	/* Its descriptor (kept from the program), or -1; moving it off a number the program wants. */
	int (*fd)(void);
	int (*move_fd)(void);
	/* At exit, after the last batch (drain lock held), or NULL: what it still holds, sent or counted. */
	void (*exit)(void);
};

extern const struct cc_output cc_output_file;
extern const struct cc_output cc_output_hep;

#endif
