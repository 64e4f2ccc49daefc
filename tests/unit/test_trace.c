/*
 * Unit tests for tools/trace.c's choice of programs to trace: ELF files written here (static,
 * dynamic, Go, 32-bit, truncated, set-uid, scripts), looked up by path and through PATH.
 */
#include "tools/trace.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cc-trace-unit-XXXXXX";

enum { INTERP = 1, GO = 2, CLASS32 = 4, OTHER_SECTION = 8, BAD_STRNDX = 16 };

/* An ELF64 file: header, program headers (PT_LOAD, and PT_INTERP if asked), then sections. */
static const char *elf(const char *name, int flags, mode_t mode)
{
	static char path[256];
	static const char strtab[] = "\0.shstrtab\0.go.buildinfo\0.data\0";
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	Elf64_Shdr sh[3];
	size_t nph = flags & INTERP ? 2 : 1;
	size_t phoff = sizeof eh, stroff = phoff + nph * sizeof ph[0], shoff = stroff + sizeof strtab;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	memset(&eh, 0, sizeof eh);
	memset(ph, 0, sizeof ph);
	memset(sh, 0, sizeof sh);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = flags & CLASS32 ? ELFCLASS32 : ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_phoff = phoff;
	eh.e_phentsize = sizeof ph[0];
	eh.e_phnum = (Elf64_Half)nph;
	eh.e_shoff = shoff;
	eh.e_shentsize = sizeof sh[0];
	eh.e_shnum = 3;
	eh.e_shstrndx = flags & BAD_STRNDX ? 7 : 1;
	ph[0].p_type = PT_LOAD;
	ph[1].p_type = PT_INTERP;
	sh[1].sh_name = 1;              /* .shstrtab */
	sh[1].sh_type = SHT_STRTAB;
	sh[1].sh_offset = stroff;
	sh[1].sh_size = sizeof strtab;
	sh[2].sh_name = flags & GO ? 11 : flags & OTHER_SECTION ? 25 : 0;
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(&eh, sizeof eh, 1, f);
	fwrite(ph, sizeof ph[0], nph, f);
	fwrite(strtab, sizeof strtab, 1, f);
	fwrite(sh, sizeof sh, 1, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static int detect(const char *path, char *why)
{
	why[0] = '\0';
	return cc_trace_detect(path, why, 16);
}

START_TEST(static_dynamic_go)
{
	char why[16];

	ck_assert_int_eq(detect(elf("static", 0, 0755), why), 1);
	ck_assert_str_eq(why, "static");
	ck_assert_int_eq(detect(elf("dynamic", INTERP, 0755), why), 0);
	ck_assert_int_eq(detect(elf("go", INTERP | GO, 0755), why), 1);
	ck_assert_str_eq(why, "Go");
	/* A static Go program is static first: either way it is traced. */
	ck_assert_int_eq(detect(elf("gostatic", GO, 0755), why), 1);
	ck_assert_str_eq(why, "static");
	ck_assert_int_eq(detect(elf("data", INTERP | OTHER_SECTION, 0755), why), 0);
}
END_TEST

START_TEST(not_ours)
{
	char why[16], path[256];
	FILE *f;

	/* 32-bit programs make system calls the native filter does not know. */
	ck_assert_int_eq(detect(elf("elf32", CLASS32, 0755), why), 0);
	/* Set-uid: tracing would run it without its privileges. */
	ck_assert_int_eq(detect(elf("suid", 0, 04755), why), 0);
	ck_assert_int_eq(detect(elf("sgid", 0, 02755), why), 0);
	/* A broken section table is not Go; the program headers still decide "static". */
	ck_assert_int_eq(detect(elf("badstr", INTERP | GO | BAD_STRNDX, 0755), why), 0);
	snprintf(path, sizeof path, "%s/script", dir);
	f = fopen(path, "w");
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	chmod(path, 0755);
	ck_assert_int_eq(detect(path, why), 0);
	/* Cut short after the ELF magic. */
	snprintf(path, sizeof path, "%s/short", dir);
	f = fopen(path, "w");
	fputs("\177ELF\2\1\1", f);
	fclose(f);
	chmod(path, 0755);
	ck_assert_int_eq(detect(path, why), 0);
	ck_assert_int_eq(detect("/nonexistent/program", why), 0);
}
END_TEST

START_TEST(path_lookup)
{
	char why[16], path[512];
	const char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;

	elf("traceme", 0, 0755);
	elf("noexec", 0, 0644);
	snprintf(path, sizeof path, "/nonexistent:%s", dir);
	setenv("PATH", path, 1);
	ck_assert_int_eq(detect("traceme", why), 1);
	/* Not executable: execvp would not run it, so it decides nothing. */
	ck_assert_int_eq(detect("noexec", why), 0);
	ck_assert_int_eq(detect("missing", why), 0);
	if (saved) {
		setenv("PATH", saved, 1);
		free(saved);
	}
}
END_TEST

/* Real files on a Debian system, when present: ldconfig is static-pie, true is dynamic. */
START_TEST(system_files)
{
	char why[16];

	if (access("/sbin/ldconfig", X_OK) == 0)
		ck_assert_int_eq(detect("/sbin/ldconfig", why), 1);
	if (access("/bin/true", X_OK) == 0)
		ck_assert_int_eq(detect("/bin/true", why), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *t = tcase_create("detect");
	pid_t pid;
	int rc;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	tcase_add_test(t, static_dynamic_go);
	tcase_add_test(t, not_ours);
	tcase_add_test(t, path_lookup);
	tcase_add_test(t, system_files);
	suite_add_tcase(s, t);
	rc = cc_run_suite(s);
	pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return rc;
}
