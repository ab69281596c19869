/*
 * replay_main.c — a main() for fuzz harnesses built without libFuzzer: runs
 * LLVMFuzzerTestOneInput once per file named on the command line (or per
 * file in a named directory) and prints "N passed, N failed".  A crash or
 * sanitizer report aborts the process, which the caller counts as failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "cannot open '%s'\n", path);
		return -1;
	}
	buf = malloc(REPLAY_MAX);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;
			while (d && (de = readdir(d)) != NULL) {
				char p[4096];
				if (de->d_name[0] == '.')
					continue;
				snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
				if (replay_file(p) == 0)
					passed++;
				else
					failed++;
			}
			if (d)
				closedir(d);
		} else if (replay_file(argv[i]) == 0) {
			passed++;
		} else {
			failed++;
		}
	}
	printf("replay: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
