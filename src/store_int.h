/* store_int.h - private to the store module (store.c, store_restore.c):
 * LMDB's file names and the path and error helpers both files use. */
#ifndef VAULTCTL_STORE_INT_H
#define VAULTCTL_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* LMDB's file names inside the environment directory. */
#define STORE_DATA_FILE "data.mdb"
#define STORE_LOCK_FILE "lock.mdb"

/* dir + "/" + name into buf; false if it does not fit. */
bool store_join_path(char *buf, size_t cap, const char *dir, const char *name);

/* A file-system errno as a code: full or read-only storage is
 * VC_UNAVAILABLE (the user can act on it), anything else VC_INTERNAL. */
vc_code store_errno_code(int e);

/* Creates dir (0700) if missing, then checks it and LMDB's files in it
 * against the ownership and mode rules (fileperm.h), all before LMDB opens
 * anything. VC_CONFIG with a message naming dir otherwise. */
vc_code store_prepare_dir(const char *dir, vc_err *err);

#endif
