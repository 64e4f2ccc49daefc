/*
 * Optional-library symbols through the loaded objects; see optlib.h.
 */
#include "shim/optlib.h"
#include "shim/real.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

struct find {
	const char *prefix;
	char path[512];
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	const char *base;

	(void)size;
	if (!info->dlpi_name || !info->dlpi_name[0])
		return 0;
	base = strrchr(info->dlpi_name, '/');
	base = base ? base + 1 : info->dlpi_name;
	if (strncmp(base, f->prefix, strlen(f->prefix)) != 0)
		return 0;
	if (strlen(info->dlpi_name) >= sizeof(f->path))
		return 0;
	strcpy(f->path, info->dlpi_name);
	return 1;
}

void *cc_optsym(const char *soname_prefix, const char *name)
{
	struct find f = { .prefix = soname_prefix };
	void *h, *p;

	/* dlopen must not run inside the iteration, which holds the loader's lock. */
	if (!dl_iterate_phdr(find_cb, &f))
		return NULL;
	h = dlopen(f.path, RTLD_NOLOAD | RTLD_LAZY);
	if (!h)
		return NULL;
	p = dlsym(h, name);
	/* The handle stays open on purpose: the library is in use, and we keep its functions. */
	return cc_real_is_ours(p) ? NULL : p;
}
