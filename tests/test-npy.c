/* test-npy.c: .npy files written here are read back by numpy (the
 * reference's reader) and files numpy writes are read here. */

#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

static char *
run_python (const char *code)
{
  const char *python = g_getenv ("NACLIP_PYTHON");
  char *argv[] = { (char *)python, (char *)"-c", (char *)code, NULL };
  char *out = NULL;
  int status = 0;
  GError *error = NULL;

  if (python == NULL) {
    g_test_skip ("NACLIP_PYTHON is not set");
    return NULL;
  }
  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
      &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return out;
}

static void
test_roundtrip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("naclip-npy-XXXXXX", NULL);
  g_autofree char *f32 = g_build_filename (dir, "a.npy", NULL);
  g_autofree char *i32 = g_build_filename (dir, "b.npy", NULL);
  g_autofree char *np = g_build_filename (dir, "c.npy", NULL);
  g_autofree char *code = NULL;
  g_autofree char *out = NULL;
  g_autofree float *back = NULL;
  float data[2 * 3 * 4];
  gint32 labels[5] = { 0, 1, 2, 254, -1 };
  gsize shape[3] = { 2, 3, 4 };
  gsize shape1[1] = { 5 };
  gsize got[8];
  guint n_dims = 0;
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (data); i++)
    data[i] = (float)i * 0.5f - 3.0f;
  g_assert_true (naclip_npy_write (f32, shape, 3, FALSE, data, &error));
  g_assert_no_error (error);
  g_assert_true (naclip_npy_write (i32, shape1, 1, TRUE, labels, &error));

  code = g_strdup_printf (
      "import numpy as np\n"
      "a = np.load('%s'); b = np.load('%s')\n"
      "assert a.dtype == np.float32 and a.shape == (2, 3, 4)\n"
      "assert (a.ravel() == np.arange(24) * 0.5 - 3).all()\n"
      "assert b.dtype == np.int32 and list(b) == [0, 1, 2, 254, -1]\n"
      "np.save('%s', np.arange(6, dtype=np.float32).reshape(3, 2) + 0.25)\n"
      "print('ok')\n",
      f32, i32, np);
  out = run_python (code);
  if (out == NULL)
    return;
  g_assert_cmpstr (out, ==, "ok\n");

  back = naclip_npy_read_f32 (np, got, &n_dims, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_dims, ==, 2);
  g_assert_cmpuint (got[0], ==, 3);
  g_assert_cmpuint (got[1], ==, 2);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpfloat (back[i], ==, (float)i + 0.25f);

  /* int32 is not float32: refused by the float reader. */
  g_assert_null (naclip_npy_read_f32 (i32, got, &n_dims, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "b.npy"));
  g_clear_error (&error);

  g_remove (f32);
  g_remove (i32);
  g_remove (np);
  g_rmdir (dir);
}

static void
test_bad_files (void)
{
  g_autofree char *dir = g_dir_make_tmp ("naclip-npy-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "bad.npy", NULL);
  const char *cases[] = {
    "",
    "\x93NUMPY\x01\x00\xff\xff",
    "\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}",
    /* a valid header whose shape needs 8 data bytes, and none */
    ("\x93NUMPY\x01\x00\x3c\x00{'descr': '<f4', 'fortran_order': False, "
     "'shape': (2,), }     \n"),
  };
  gsize got[8];
  guint n_dims;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    gsize len = i == 3 ? 10 + 0x3c : strlen (cases[i]);
    g_assert_true (g_file_set_contents (path, cases[i], (gssize)len, NULL));
    g_assert_null (naclip_npy_read_f32 (path, got, &n_dims, &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
    g_clear_error (&error);
  }
  g_remove (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/npy/roundtrip", test_roundtrip);
  g_test_add_func ("/npy/bad-files", test_bad_files);
  return g_test_run ();
}
