/*
 * Start-up and shut-down: bind the real symbols, read the configuration, register the fork
 * handlers, and flush at exit.  Nothing here runs per packet.
 */
#include "shim/capture.h"
#include "pcapout/lock.h"
#include "shim/config.h"
#include "shim/control.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/impair.h"
#include "shim/ownfd.h"
#include "shim/verbose.h"
#include "shim/real.h"
#include "shim/srtpmatch.h"
#include "shim/turn.h"
#include "pcapout/pages.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

extern char *program_invocation_short_name;

static char exe_name[256];

static void set_comment(void)
{
	char c[128];

	snprintf(c, sizeof(c), "pid %u %s", cc_pid, program_invocation_short_name);
	cc_writer_set_comment(c);
}

/* The fork handlers keep errno: fork's caller sees the one it had (the child's control page,
 * made anew, met EEXIST on its directory and left that). */
static void atfork_prepare(void)
{
	int saved = errno;

	cc_fd_fork_prepare();           /* before any lock: it takes none */
	cc_forklock_prepare();
	cc_impair_atfork_prepare();
	errno = saved;
}

static void atfork_parent(void)
{
	int saved = errno;

	/* Every socket open now is shared with the child: neither side may close its stream alone. */
	__atomic_fetch_add(&cc_fork_gen, 1, __ATOMIC_RELAXED);
	cc_fd_fork_done();
	cc_forklock_parent();
	errno = saved;
}

static void atfork_child(void)
{
	int saved = errno;

	__atomic_fetch_add(&cc_fork_gen, 1, __ATOMIC_RELAXED);
	cc_fd_fork_done();
	cc_pid = (uint32_t)getpid();
	cc_fd_changed();                /* the forking thread's hot lane names the parent */
	cc_forklock_child();
	cc_sm_reset();
	cc_srtp_atfork_child();
	cc_tls_atfork_child();
	cc_control_atfork_child();
	cc_impair_atfork_child();
	set_comment();
	errno = saved;
}

static int output_fd(void *arg)
{
	return cc_writer_output_fd((int)(intptr_t)arg);
}

static int output_move(void *arg)
{
	return cc_writer_output_move((int)(intptr_t)arg);
}

/* Every descriptor and lock the shim owns, in the tables the descriptor and fork hooks consult. */
static void own_resources(void)
{
	for (int i = 0; i < cc_writer_outputs(); i++) {
		struct cc_ownfd_ops out = { output_fd, output_move, (void *)(intptr_t)i };
		cc_ownfd_add(&out);
	}
	cc_tls_init();
	cc_srtp_init();
	cc_turn_init();
	cc_turn_set_relay(cc_cap_relay);
}

/*
 * Under the wrapper, this process tells its counters page that the shim was loaded, and
 * whether the configuration was refused: the wrapper's summary then says why nothing was
 * captured instead of guessing that the shim never ran.  Once per process image, at start-up.
 * A process that captures keeps the page mapped for its writer (cc_writer_adopt_counters): a
 * daemon dropping to nobody before its first packet could not map the wrapper's 0600 page then.
 */
static void count_loaded(int rc)
{
	const char *path = getenv("CLEARCAP_COUNTERS");
	struct cc_counters *c = path && path[0] && !getauxval(AT_SECURE) ? cc_counters_map(path) : NULL;

	if (!c)
		return;
	__atomic_fetch_add(&c->loaded, 1, __ATOMIC_RELAXED);
	if (rc < 0)
		__atomic_fetch_add(&c->refused, 1, __ATOMIC_RELAXED);
	if (rc == 0 && cc_cfg.on)
		cc_writer_adopt_counters(c);
	else
		munmap(c, CC_COUNTERS_SIZE);
}

static void load(void)
{
	int saved = errno;
	char path[4096];
	ssize_t n;

	cc_real_init();
	cc_pid = (uint32_t)getpid();
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = 0;
		const char *b = strrchr(path, '/');
		b = b ? b + 1 : path;
		size_t len = strlen(b) < sizeof(exe_name) - 1 ? strlen(b) : sizeof(exe_name) - 1;
		memcpy(exe_name, b, len);
		exe_name[len] = 0;
	}
	int rc = cc_config_load(program_invocation_short_name, exe_name[0] ? exe_name : NULL);
	/* A bad impairment spec is a bad setting like any other: said once, and nothing captured. */
	if (rc == 0 && cc_cfg.on && cc_impair_load() < 0) {
		cc_cfg.on = 0;
		rc = -1;
	}
	count_loaded(rc);
	if (rc == 0 && cc_cfg.on) {
		const char *file = cc_cfg.file;
		if (cc_cfg.ctl) {
			const char *reopened = cc_control_init(cc_cfg.started_paused, program_invocation_short_name,
								 cc_cfg.file);
			if (reopened)
				file = reopened;
		}
		struct cc_writer_cfg w = {
			.path = file,
			.format = cc_cfg.format,
			.ring_size = cc_cfg.buffer,
			.counters_path = cc_cfg.counters[0] ? cc_cfg.counters : NULL,
			.pipe_header_done = cc_cfg.pipe_header_done,
			.rotate = { cc_cfg.rotate_size, cc_cfg.rotate_seconds, cc_cfg.rotate_files },
			.hep = cc_cfg.hep.on ? &cc_cfg.hep : NULL,
		};
		cc_writer_configure(&w);
		cc_writer_on_gate(cc_hot_stale);
		own_resources();
		cc_verbose_loaded(file);
		cc_sm_init();
		cc_impair_init();
		/* The run's page of TCP generations, when under the wrapper (pcapout/pages.h). */
		cc_fd_init(cc_cfg.counters[0] && !getauxval(AT_SECURE) ? cc_counters_gens(cc_cfg.counters) : NULL);
		set_comment();
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		/* Last: the hooks' "on" paths use cc_real without REAL(), found above. */
		__atomic_store_n(&cc_on, 1, __ATOMIC_RELEASE);
	}
	errno = saved;
}

void cc_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, load);
}

__attribute__((constructor)) static void clearcap_ctor(void)
{
	cc_init();
}

int cc_exit_blocked(void)
{
	static int told;

	if (cc_exit_safe())
		return 0;
	if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
		cc_warn("the program left from a signal handler that interrupted clearcap's own work: what "
			"was still buffered (the last 30 ms at most) is not in the file");
	return 1;
}

/*
 * Not in a process that is a copy made without fork handlers (a raw clone(2): cc_own_memory): its
 * writer thread is not there, a lock that thread held at the copy stays held, and what is
 * buffered is its parent's, written already or soon by the parent.
 */
__attribute__((destructor)) static void clearcap_dtor(void)
{
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && cc_own_memory() && !cc_exit_blocked()) {
		cc_impair_exit();       /* delayed datagrams still queued go now, and are written */
		cc_dm_flush();          /* plaintexts still waiting for their datagram, marked */
		cc_tls_exit();
		cc_writer_exit();
		cc_srtp_exit();         /* after the writer's thread counted the last failures */
		cc_control_exit();
		cc_fd_leaving();
	}
}
