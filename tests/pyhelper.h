/* pyhelper.h: helpers of the parity tests that run a Python snippet.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Parity tests write their inputs as .npy files into a scratch directory
 * under $NACLIP_BUILD_ROOT, run a short script with $NACLIP_PYTHON (Debian's
 * python3 with torch and numpy) in that directory, and compare the .npy
 * files it writes with the C results.
 */

#ifndef NACLIP_PYHELPER_H
#define NACLIP_PYHELPER_H

#include <glib.h>

/* A fresh scratch directory $NACLIP_BUILD_ROOT/tests/tmp-<name> (or under
 * the system temp dir without NACLIP_BUILD_ROOT). Caller frees. */
char *pyhelper_scratch_dir (const char *name);

/* Runs @script with $NACLIP_PYTHON in @dir; fails the test, printing the
 * script's stderr, if it does not exit with 0. */
void pyhelper_run (const char *dir, const char *script);

/* Writes @data (float32) of the given shape to @dir/@file. */
void pyhelper_write (const char *dir, const char *file, const float *data,
    const gsize *shape, guint n_dims);

/* Reads the float32 array @dir/@file, asserting it has @n elements.
 * Caller frees. */
float *pyhelper_read (const char *dir, const char *file, gsize n);

/* Asserts |got - want| <= atol + rtol * |want| element-wise; on failure
 * prints the first 5 mismatches and the max abs difference of @what. */
void pyhelper_assert_close (const char *what, const float *got,
    const float *want, gsize n, double atol, double rtol);

#endif /* NACLIP_PYHELPER_H */
