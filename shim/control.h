/*
 * Runtime control of one process: its control page (pcapout/pages.h) under the runtime
 * directory, shared with `clearcap ctl`.
 */
#ifndef CC_CONTROL_H
#define CC_CONTROL_H

/*
 * Creates (or, in an exec'd image of the same process, takes over) the control page and hands it
 * to the writer.  `paused` starts with capture off.  Returns the file the page names when an
 * earlier image of this process was told to write elsewhere (`ctl reopen`), else NULL.  `file`
 * is CLEARCAP_FILE (or empty), shown by `clearcap ctl status` until the first packet.
 */
const char *cc_control_init(int paused, const char *comm, const char *file);

/* In a forked child: a page of its own, with the parent's switch and file. */
void cc_control_atfork_child(void);

/* At exit: the page goes away with the process. */
void cc_control_exit(void);

#endif
