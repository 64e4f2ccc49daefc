# tools/install.mk - `make install` / `make uninstall` (PREFIX, DESTDIR as usual).
# The command finds the shim in ../lib/clearcap/ from its own directory (tools/clearcap.c,
# find_shim), so the tree can be moved as a whole or installed under DESTDIR and run from there.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib/clearcap
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
INSTALL ?= install

.PHONY: install uninstall
install: $(LIB) $(TOOL)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/clearcap
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libclearcap.so
	$(INSTALL) -m 755 tools/lab.sh $(DESTDIR)$(LIBDIR)/lab.sh
	$(INSTALL) -m 644 doc/clearcap.1 $(DESTDIR)$(MANDIR)/man1/clearcap.1
	$(INSTALL) -m 644 doc/clearcap.bash $(DESTDIR)$(BASHCOMPDIR)/clearcap
	$(INSTALL) -m 644 doc/_clearcap $(DESTDIR)$(ZSHCOMPDIR)/_clearcap

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/clearcap $(DESTDIR)$(LIBDIR)/libclearcap.so $(DESTDIR)$(LIBDIR)/lab.sh \
	    $(DESTDIR)$(MANDIR)/man1/clearcap.1 $(DESTDIR)$(BASHCOMPDIR)/clearcap \
	    $(DESTDIR)$(ZSHCOMPDIR)/_clearcap
	-rmdir $(DESTDIR)$(LIBDIR)
