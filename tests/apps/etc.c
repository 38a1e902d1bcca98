/* The identity files a Linux program expects: getpwuid(getuid()), getgrgid(getgid()), and the
 * contents of the files named as arguments (e.g. /etc/hosts), each between "== PATH" lines. */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());
	int bad = 0;

	if (pw)
		printf("passwd: %s uid=%d gid=%d home=%s shell=%s\n", pw->pw_name, (int)pw->pw_uid,
		       (int)pw->pw_gid, pw->pw_dir, pw->pw_shell);
	else
		printf("passwd: getpwuid(%d) = NULL\n", (int)getuid()), bad = 1;
	if (gr)
		printf("group: %s gid=%d\n", gr->gr_name, (int)gr->gr_gid);
	else
		printf("group: getgrgid(%d) = NULL\n", (int)getgid()), bad = 1;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		char buf[512];
		size_t n;
		printf("== %s\n", argv[i]);
		if (!f) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stdout);
		fclose(f);
		printf("== end\n");
	}
	return bad;
}
