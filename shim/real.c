/*
 * Real-symbol table.
 *
 * libc's functions are found with dlsym(RTLD_NEXT): we are preloaded, so "next" is libc.  A lookup
 * that returns one of our own hooks (possible when the library is loaded twice, or preloaded in an
 * unusual order) is rejected, as proxychains-ng's load_sym does: calling it would recurse forever.
 * Optional libraries (OpenSSL, libsrtp2, libpcap) are resolved elsewhere through the loaded
 * objects, because a dlopen(RTLD_LOCAL) module hides them from RTLD_NEXT.
 */
#include "shim/real.h"
#include "shim/direct.h"

#include <dlfcn.h>
#include <pthread.h>

struct cc_real cc_real;

/*
 * True when addr lies in this shared object: a lookup must never hand us our own hook.
 * (_dl_find_object, not dladdr: no symbol search, for each of the real functions at start.)
 */
int cc_real_is_ours(void *addr)
{
	static const void *mine;
	const void *me = __atomic_load_n(&mine, __ATOMIC_ACQUIRE);
	struct dl_find_object it;

	if (!me && _dl_find_object((void *)cc_real_is_ours, &it) == 0) {
		me = it.dlfo_link_map;
		__atomic_store_n(&mine, me, __ATOMIC_RELEASE);
	}
	return addr && me && _dl_find_object(addr, &it) == 0 && it.dlfo_link_map == me;
}

void *cc_real_lookup(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	return cc_real_is_ours(p) ? NULL : p;
}

static void bind_all(void)
{
#define CC_REAL_BIND(ret, name, args) \
	__atomic_store_n(&cc_real.name, (ret(*) args)cc_real_lookup(#name), \
			 __ATOMIC_RELEASE);
	CC_REAL_LIST(CC_REAL_BIND)
#undef CC_REAL_BIND
	cc_direct_init();
}

void cc_real_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, bind_all);
}
