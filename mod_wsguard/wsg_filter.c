/* wsg_filter: the shared "may have a record" bitmap (see wsg_filter.h).
 *
 * File layout: a 4096-byte head (magic, version, log2 of the word count, the covered LMDB
 * transaction id), then 2^n 64-bit words. A key sets two bits of one word (a blocked bloom
 * filter: one load per key), chosen by a 64-bit mix of its family, prefix length and address
 * bytes. At 16 bits per record of the store's capacity a full store answers "maybe" for about
 * 1.5% of absent keys; those cost the LMDB read they cost without the filter.
 *
 * Concurrency: words are only ever ORed into (atomic) by writers, and replaced word by word by
 * a rebuild that holds LMDB's writer lock (so no writer is between its bits and its commit); a
 * word a reader loads during a rebuild is the old one or the new one, and when the filter was
 * in force the old one holds every bit of the new one. The covered id is changed only by a
 * writer holding the writer lock (advance), or by one whose commit failed (retreat, which only
 * makes the filter believed less). The file is derived data: prepare recreates it freely. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include "wsg_filter.h"

#define HEAD_SIZE   4096
#define MAGIC       "WSGBLM1"
#define VERSION     1
#define MIN_LOG2    14
#define MAX_LOG2    27
#define FILE_MODE   0640

typedef struct head_t {
    char                  magic[8];
    apr_uint32_t          version;
    apr_uint32_t          log2_words;
    volatile apr_uint64_t covered;
} head_t;

struct wsg_filter_t {
    int           fd;
    void         *map;
    size_t        len;
    head_t       *head;
    apr_uint64_t *words;
    apr_uint64_t  mask;            /* words - 1 */
    int           writable;
    apr_pool_t   *pool;
};

struct wsg_filter_rebuild_t {
    wsg_filter_t *f;
    apr_uint64_t *words;
};

apr_size_t wsg_filter_words_for(apr_size_t capacity)
{
    apr_size_t want = capacity / 4;        /* 16 bits a record = a quarter word */
    unsigned l = MIN_LOG2;

    while (l < MAX_LOG2 && ((apr_size_t)1 << l) < want)
        l++;
    return (apr_size_t)1 << l;
}

/* Family, prefix length and the bytes the length covers (the rest is ignored, as the store's
 * packed key ignores it), mixed to 64 bits: the low bits pick the word, the top 12 the bits. */
static inline apr_uint64_t key_hash(const wsg_addr_t *a)
{
    apr_uint64_t lo, hi, h;
    unsigned nb = ((unsigned)a->bits + 7) / 8;

    /* Two fixed loads, then the bytes past nb masked off (little-endian: the low ones stay). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    {
        unsigned i;
        lo = hi = 0;
        for (i = 0; i < nb && i < 16; i++)
            if (i < 8)
                lo |= (apr_uint64_t)a->bytes[i] << (8 * i);
            else
                hi |= (apr_uint64_t)a->bytes[i] << (8 * (i - 8));
        nb = 16;
    }
#else
    memcpy(&lo, a->bytes, 8);
    memcpy(&hi, a->bytes + 8, 8);
#endif
    if (nb < 8) {
        lo &= nb ? ~(apr_uint64_t)0 >> (64 - 8 * nb) : 0;
        hi = 0;
    }
    else if (nb < 16)
        hi &= nb > 8 ? ~(apr_uint64_t)0 >> (64 - 8 * (nb - 8)) : 0;
    /* One multiply per half and one final mix: the word comes from the low bits after the
     * final xor-shift, the two bits from the top 12. */
    h = (lo ^ ((apr_uint64_t)a->family << 56 | (apr_uint64_t)a->bits << 48)) * 0x9e3779b97f4a7c15ULL
        ^ hi * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 32);
}

static inline apr_uint64_t key_bits(apr_uint64_t h)
{
    return ((apr_uint64_t)1 << (h >> 58)) | ((apr_uint64_t)1 << ((h >> 52) & 63));
}

static apr_status_t filter_cleanup(void *data)
{
    wsg_filter_t *f = data;

    if (f->map && f->map != MAP_FAILED)
        munmap(f->map, f->len);
    if (f->fd >= 0)
        close(f->fd);
    f->map = NULL;
    f->fd = -1;
    return APR_SUCCESS;
}

void wsg_filter_close(wsg_filter_t *f)
{
    if (!f)
        return;
    apr_pool_cleanup_kill(f->pool, f, filter_cleanup);
    filter_cleanup(f);
}

/* The checks of the state directory's files (wsg_store.c) on an open fd. */
static apr_status_t fd_check(apr_pool_t *p, int fd, const char *name, struct stat *sb,
                             const char **err)
{
    if (fstat(fd, sb) != 0) {
        *err = apr_psprintf(p, "cannot stat %s: %s", name, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    if (!S_ISREG(sb->st_mode)) {
        *err = apr_psprintf(p, "%s is not a regular file", name);
        return APR_EACCES;
    }
    if (sb->st_nlink != 1) {
        *err = apr_psprintf(p, "%s has %lu hard links", name, (unsigned long)sb->st_nlink);
        return APR_EACCES;
    }
    if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
        *err = apr_psprintf(p, "%s is writable by group or others", name);
        return APR_EACCES;
    }
    if (geteuid() != 0 && sb->st_uid != geteuid()) {
        *err = apr_psprintf(p, "%s is owned by uid %ld, not by this process's user", name,
                            (long)sb->st_uid);
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

/* Maps an opened and checked fd; its head must say it is a filter of its size. */
static apr_status_t fd_map(apr_pool_t *p, int fd, const struct stat *sb, int writable,
                           const char *name, wsg_filter_t **out, const char **err)
{
    wsg_filter_t *f;
    head_t h;
    size_t len;

    if (sb->st_size < HEAD_SIZE || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)
        || memcmp(h.magic, MAGIC, sizeof(MAGIC)) || h.version != VERSION
        || h.log2_words < MIN_LOG2 || h.log2_words > MAX_LOG2
        || (apr_uint64_t)sb->st_size != HEAD_SIZE + ((apr_uint64_t)8 << h.log2_words)) {
        *err = apr_psprintf(p, "%s is not a filter of this version", name);
        return APR_EINVAL;
    }
    len = (size_t)sb->st_size;
    f = apr_pcalloc(p, sizeof(*f));
    f->pool = p;
    f->fd = fd;
    f->len = len;
    f->writable = writable;
    f->map = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        *err = apr_psprintf(p, "cannot map %s: %s", name, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    f->head = f->map;
    f->words = (apr_uint64_t *)((char *)f->map + HEAD_SIZE);
    f->mask = ((apr_uint64_t)1 << h.log2_words) - 1;
    apr_pool_cleanup_register(p, f, filter_cleanup, apr_pool_cleanup_null);
    *out = f;
    return APR_SUCCESS;
}

apr_status_t wsg_filter_open(apr_pool_t *p, int dirfd, const char *path, int writable,
                             wsg_filter_t **out, const char **err)
{
    const char *name = dirfd >= 0 ? WSG_FILTER_FILE : path;
    struct stat sb;
    apr_status_t rv;
    int fd;

    *out = NULL;
    fd = dirfd >= 0 ? openat(dirfd, WSG_FILTER_FILE, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW
                             | O_CLOEXEC)
                    : open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return APR_ENOENT;
        *err = apr_psprintf(p, "cannot open %s: %s", name,
                            e == ELOOP ? "it is a symbolic link" : strerror(e));
        return e == ELOOP ? APR_EACCES : APR_FROM_OS_ERROR(e);
    }
    if ((rv = fd_check(p, fd, name, &sb, err)) != APR_SUCCESS
        || (rv = fd_map(p, fd, &sb, writable, name, out, err)) != APR_SUCCESS) {
        close(fd);
        return rv;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_filter_create(apr_pool_t *p, int dirfd, apr_size_t nwords, long uid, long gid,
                               wsg_filter_t **out, int *created, const char **err)
{
    head_t h;
    apr_status_t rv;
    unsigned l = MIN_LOG2;
    int fd;

    *created = 0;
    rv = wsg_filter_open(p, dirfd, NULL, 1, out, err);
    if (rv == APR_SUCCESS) {
        if (((*out)->mask + 1) == nwords)
            return APR_SUCCESS;
        wsg_filter_close(*out);
        *out = NULL;
    }
    /* Missing, refused or of another size: derived data, made again under the same name.
     * unlinkat removes a symlink itself, never its target. */
    if (unlinkat(dirfd, WSG_FILTER_FILE, 0) != 0 && errno != ENOENT) {
        *err = apr_psprintf(p, "cannot remove %s: %s", WSG_FILTER_FILE, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    while (l < MAX_LOG2 && ((apr_size_t)1 << l) < nwords)
        l++;
    fd = openat(dirfd, WSG_FILTER_FILE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                FILE_MODE);
    if (fd < 0) {
        *err = apr_psprintf(p, "cannot create %s: %s", WSG_FILTER_FILE, strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, MAGIC, sizeof(MAGIC));
    h.version = VERSION;
    h.log2_words = l;
    h.covered = 0;          /* covers nothing until a rebuild says what */
    if ((geteuid() == 0 && (uid > 0 || gid > 0)
         && fchown(fd, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0)
        || ftruncate(fd, (off_t)(HEAD_SIZE + ((apr_uint64_t)8 << l))) != 0
        || pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        *err = apr_psprintf(p, "cannot set up %s: %s", WSG_FILTER_FILE, strerror(errno));
        rv = APR_FROM_OS_ERROR(errno);
        close(fd);
        unlinkat(dirfd, WSG_FILTER_FILE, 0);
        return rv;
    }
    close(fd);
    *created = 1;
    return wsg_filter_open(p, dirfd, NULL, 1, out, err);
}

void wsg_filter_add(wsg_filter_t *f, const wsg_addr_t *key)
{
    apr_uint64_t h = key_hash(key);

    if (!f->writable)
        return;
    __atomic_fetch_or(&f->words[h & f->mask], key_bits(h), __ATOMIC_RELAXED);
}

int wsg_filter_maybe(const wsg_filter_t *f, const wsg_addr_t *key)
{
    apr_uint64_t h = key_hash(key), b = key_bits(h);

    return (__atomic_load_n(&f->words[h & f->mask], __ATOMIC_ACQUIRE) & b) == b;
}

int wsg_filter_maybe_any(const wsg_filter_t *f, const wsg_addr_t *keys, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        apr_uint64_t h = key_hash(&keys[i]), b = key_bits(h);
        if ((__atomic_load_n(&f->words[h & f->mask], __ATOMIC_ACQUIRE) & b) == b)
            return 1;
    }
    return 0;
}

apr_uint64_t wsg_filter_covered(const wsg_filter_t *f)
{
    return __atomic_load_n(&f->head->covered, __ATOMIC_ACQUIRE);
}

int wsg_filter_advance(wsg_filter_t *f, apr_uint64_t txnid)
{
    apr_uint64_t want = txnid - 1;

    if (!f->writable)
        return 0;
    /* Release: the transaction's bits are visible before the id that says they are there. */
    return __atomic_compare_exchange_n(&f->head->covered, &want, txnid, 0, __ATOMIC_RELEASE,
                                       __ATOMIC_RELAXED);
}

void wsg_filter_retreat(wsg_filter_t *f, apr_uint64_t txnid)
{
    apr_uint64_t want = txnid;

    if (f->writable)
        (void)__atomic_compare_exchange_n(&f->head->covered, &want, txnid - 1, 0,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

wsg_filter_rebuild_t *wsg_filter_rebuild_start(wsg_filter_t *f)
{
    wsg_filter_rebuild_t *rb;

    if (!f || !f->writable || !(rb = malloc(sizeof(*rb))))
        return NULL;
    rb->f = f;
    if (!(rb->words = calloc((size_t)f->mask + 1, sizeof(apr_uint64_t)))) {
        free(rb);
        return NULL;
    }
    return rb;
}

void wsg_filter_rebuild_add(wsg_filter_rebuild_t *rb, const wsg_addr_t *key)
{
    apr_uint64_t h;

    if (!rb)
        return;
    h = key_hash(key);
    rb->words[h & rb->f->mask] |= key_bits(h);
}

void wsg_filter_rebuild_publish(wsg_filter_rebuild_t *rb, apr_uint64_t txnid)
{
    wsg_filter_t *f;
    apr_size_t i;

    if (!rb)
        return;
    f = rb->f;
    /* Word by word: a concurrent reader sees the old word or the new one, never a torn one. */
    for (i = 0; i <= f->mask; i++)
        if (f->words[i] != rb->words[i])
            __atomic_store_n(&f->words[i], rb->words[i], __ATOMIC_RELAXED);
    __atomic_store_n(&f->head->covered, txnid, __ATOMIC_RELEASE);
    wsg_filter_rebuild_discard(rb);
}

void wsg_filter_rebuild_discard(wsg_filter_rebuild_t *rb)
{
    if (!rb)
        return;
    free(rb->words);
    free(rb);
}

apr_size_t wsg_filter_nwords(const wsg_filter_t *f)
{
    return f ? (apr_size_t)f->mask + 1 : 0;
}

apr_size_t wsg_filter_popcount(const wsg_filter_t *f)
{
    apr_size_t i, n = 0;

    for (i = 0; f && i <= f->mask; i++)
        n += (apr_size_t)__builtin_popcountll(f->words[i]);
    return n;
}
