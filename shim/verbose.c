/*
 * clearcap -v; see verbose.h.  Each library is named once per process, with the file it was
 * found in (dladdr), when its hooks first resolve it.
 */
#include "shim/verbose.h"
#include "shim/config.h"
#include "shim/hooks.h"
#include "pcapout/writer.h"

#include <dlfcn.h>

extern char *program_invocation_short_name;

void cc_verbose_loaded(const char *file)
{
	if (cc_cfg.verbose)
		cc_warn("pid %u %s: shim loaded, capturing to %s", cc_pid, program_invocation_short_name,
			file && file[0] ? file : "(no file yet: clearcap ctl reopen)");
}

void cc_verbose_lib(const char *name, const char *gives, const void *sym)
{
	Dl_info di;

	if (!cc_cfg.verbose)
		return;
	const char *from = sym && dladdr(sym, &di) && di.dli_fname ? di.dli_fname : "?";
	cc_warn("pid %u %s: %s found (%s) and hooked: %s", cc_pid, program_invocation_short_name, name, from, gives);
}
