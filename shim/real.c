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
 * The loaded object that holds addr: its link map from _dl_find_object (glibc 2.35: no symbol
 * search, unlike dladdr), else its base from dladdr; NULL when none.  Looked up, not linked: the
 * library loads on an older glibc too.
 */
const void *cc_object_of(const void *addr)
{
	static int (*find)(void *, struct dl_find_object *);
	static int looked;
	Dl_info di;

	if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&find, (int (*)(void *, struct dl_find_object *))dlsym(RTLD_DEFAULT, "_dl_find_object"),
				 __ATOMIC_RELEASE);
		__atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
	}
	int (*f)(void *, struct dl_find_object *) = __atomic_load_n(&find, __ATOMIC_ACQUIRE);
	if (!addr)
		return NULL;
	if (f) {
		struct dl_find_object it;
		return f((void *)addr, &it) == 0 ? it.dlfo_link_map : NULL;
	}
	return dladdr(addr, &di) ? di.dli_fbase : NULL;
}

/* True when addr lies in this shared object: a lookup must never hand us our own hook. */
int cc_real_is_ours(void *addr)
{
	static const void *mine;
	const void *me = __atomic_load_n(&mine, __ATOMIC_ACQUIRE);

	if (!me) {
		me = cc_object_of((void *)cc_real_is_ours);
		__atomic_store_n(&mine, me, __ATOMIC_RELEASE);
	}
	return addr && me && cc_object_of(addr) == me;
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
