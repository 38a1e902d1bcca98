/* The system calls implemented outside syscall.c, for its dispatcher. */
#ifndef UNIK_RT_SYSDEFS_H
#define UNIK_RT_SYSDEFS_H

#include "kernel/kernel.h"

long sys_brk(uint64_t addr);
long sys_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, uint64_t off);
long sys_munmap(uint64_t addr, uint64_t len);
long sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, long flags, uint64_t new_addr);
long sys_mprotect(uint64_t addr, uint64_t len, long prot);
long sys_madvise(uint64_t addr, uint64_t len, long advice);
long sys_msync(uint64_t addr, uint64_t len, long flags);

long sys_openat(long dirfd, const char *path, long flags, long mode);
long sys_open(const char *path, long flags, long mode);
long sys_creat(const char *path, long mode);
long sys_close(long fd);
long sys_read(long fd, void *buf, uint64_t n);
long sys_write(long fd, const void *buf, uint64_t n);
long sys_pread64(long fd, void *buf, uint64_t n, int64_t off);
long sys_pwrite64(long fd, const void *buf, uint64_t n, int64_t off);
long sys_readv(long fd, const struct linux_iovec *iov, long cnt);
long sys_writev(long fd, const struct linux_iovec *iov, long cnt);
long sys_preadv(long fd, const struct linux_iovec *iov, long cnt, int64_t off);
long sys_pwritev(long fd, const struct linux_iovec *iov, long cnt, int64_t off);
long sys_lseek(long fd, int64_t off, long whence);
long sys_fstat(long fd, struct linux_stat *st);
long sys_newfstatat(long dirfd, const char *path, struct linux_stat *st, long flags);
long sys_stat(const char *path, struct linux_stat *st);
long sys_lstat(const char *path, struct linux_stat *st);
long sys_getdents64(long fd, void *buf, uint64_t count);
long sys_mkdirat(long dirfd, const char *path, long mode);
long sys_mkdir(const char *path, long mode);
long sys_unlinkat(long dirfd, const char *path, long flags);
long sys_unlink(const char *path);
long sys_rmdir(const char *path);
long sys_renameat2(long odirfd, const char *opath, long ndirfd, const char *npath, long flags);
long sys_renameat(long odirfd, const char *opath, long ndirfd, const char *npath);
long sys_rename(const char *opath, const char *npath);
long sys_faccessat(long dirfd, const char *path, long amode);
long sys_access(const char *path, long amode);
long sys_ftruncate(long fd, int64_t len);
long sys_truncate(const char *path, int64_t len);
long sys_fsync(long fd);
long sys_syncfs(long fd);
long sys_umount2(const char *path, long flags);
long sys_getcwd(char *buf, uint64_t size);
long sys_chdir(const char *path);
long sys_fchdir(long fd);
long sys_dup(long fd);
long sys_dup2(long fd, long newfd);
long sys_dup3(long fd, long newfd, long flags);
long sys_fcntl(long fd, long cmd, long arg);
long sys_readlinkat(long dirfd, const char *path, char *buf, long size);
long sys_readlink(const char *path, char *buf, long size);
long sys_symlinkat(const char *target, long dirfd, const char *path);
long sys_symlink(const char *target, const char *path);
long sys_linkat(long odirfd, const char *opath, long ndirfd, const char *npath, long flags);
long sys_link(const char *opath, const char *npath);
long sys_fchmodat(long dirfd, const char *path, long mode);
long sys_chmod(const char *path, long mode);
long sys_fchmod(long fd, long mode);
long sys_fchownat(long dirfd, const char *path, long uid, long gid, long flags);
long sys_utimensat(long dirfd, const char *path, const struct linux_timespec *ts, long flags);
long sys_umask(long mask);
long sys_ioctl(long fd, long req, long arg);
long sys_poll(struct linux_pollfd *fds, uint64_t n, long timeout_ms);
long sys_ppoll(struct linux_pollfd *fds, uint64_t n, const struct linux_timespec *ts,
               const uint64_t *mask, uint64_t size);
long sys_statfs(const char *path, struct linux_statfs *s);
long sys_fstatfs(long fd, struct linux_statfs *s);

#endif
