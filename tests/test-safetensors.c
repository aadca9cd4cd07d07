/* test-safetensors.c: the strict JSON gate, the safetensors parser and
 * the damaged-checkpoint corpus (bad-input rows A-D).
 *
 * The corpus is written by tests/fixtures/make_damaged.py under the build
 * directory; its manifest gives, for every case, the NaclipError code and a
 * substring of the message the load must fail with. Each case must fail
 * within a second, and cases of different rules must fail with different
 * messages (paths removed). Inputs the policy accepts are parsed and their
 * values checked. A byte-flip and truncation sweep over a small valid file
 * checks that no mutation crashes the parser (run under ASan/valgrind).
 */

#include <string.h>
#include <time.h>

#include <json-glib/json-glib.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* ------------------------------------------------------------------ */
/* naclip_json_check_strict                                            */

static void
expect_json_ok (const char *text)
{
  GError *error = NULL;

  if (!naclip_json_check_strict (text, strlen (text), 0, "t", &error))
    g_error ("'%s' refused: %s", text, error->message);
}

static void
expect_json_bad (const char *text, gsize len, const char *needle)
{
  GError *error = NULL;

  g_assert_false (naclip_json_check_strict (text, len, 3, "t", &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not contain \"%s\"", error->message, needle);
  g_clear_error (&error);
}

static void
test_json_strict (void)
{
  char deep[200];

  expect_json_ok ("{}");
  expect_json_ok (" [ ] ");
  expect_json_ok ("{\"a\":[1,-0,0.5,-1.5e-3,1E+2,true,false,null],\"b\":{}}");
  expect_json_ok (
      "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\"");
  expect_json_ok ("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  expect_json_ok ("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
  expect_json_ok ("9223372036854775807");

  expect_json_bad ("", 0, "empty text");
  expect_json_bad ("  \n", 3, "empty text");
  expect_json_bad ("{\"a\":1,\"\\u0061\":2}", 17, "duplicate key 'a'");
  expect_json_bad ("[1] x", 5, "expected nothing after the JSON value");
  expect_json_bad ("[1,]", 4, "unexpected character ']', expected a value");
  expect_json_bad ("[1 2]", 5, "expected ',' or ']'");
  expect_json_bad ("{\"a\" 1}", 7, "expected ':' after a key");
  expect_json_bad ("[1,2,3,4]", 9, "more than 3 members in one array");
  expect_json_bad ("{\"a\":1,\"b\":1,\"c\":1,\"d\":1}", 25,
      "more than 3 members in one object");
  expect_json_bad ("[0x10]", 6, "unexpected character 'x'");
  expect_json_bad ("[-]", 3, "no digit after '-'");
  expect_json_bad ("[1.]", 4, "no digit after '.'");
  expect_json_bad ("[1e]", 4, "no digit in the exponent");
  expect_json_bad ("[9223372036854775808]", 21, "outside the 64-bit range");
  expect_json_bad ("[tru]", 5, "expected a value");
  expect_json_bad ("[NaN]", 5, "expected a value");
  expect_json_bad ("\"abc", 4, "unterminated string");
  expect_json_bad ("\"\\u12xy\"", 8, "not 4 hex digits");
  expect_json_bad ("\"\\ud800\\u0041\"", 14, "not followed by a low one");
  expect_json_bad ("\"\xc3\"", 3, "bad continuation byte");
  expect_json_bad ("\"\xf4\x90\x80\x80\"", 6, "beyond U+10FFFF");
  expect_json_bad ("\"\xc3", 2, "truncated sequence");
  expect_json_bad ("[1]\0", 4, "unexpected byte 0x00");

  /* Exactly the maximum depth passes; one more fails. */
  memset (deep, '[', NACLIP_JSON_MAX_DEPTH);
  memset (deep + NACLIP_JSON_MAX_DEPTH, ']', NACLIP_JSON_MAX_DEPTH);
  g_assert_true (
      naclip_json_check_strict (deep, 2 * NACLIP_JSON_MAX_DEPTH, 0, "t", NULL));
  memset (deep, '[', NACLIP_JSON_MAX_DEPTH + 1);
  memset (deep + NACLIP_JSON_MAX_DEPTH + 1, ']', NACLIP_JSON_MAX_DEPTH + 1);
  expect_json_bad (deep, 2 * NACLIP_JSON_MAX_DEPTH + 2, "nesting too deep");
}

/* ------------------------------------------------------------------ */
/* The parser on in-memory files                                       */

/* 8-byte length + header + data; caller frees. */
static guint8 *
make_file (
    const char *header, gsize pad, const void *data, gsize data_len, gsize *len)
{
  gsize n = strlen (header) + pad;
  guint8 *buf = g_malloc0 (8 + n + data_len);

  for (int i = 0; i < 8; i++)
    buf[i] = (guint8)((guint64)n >> (8 * i));
  memcpy (buf + 8, header, strlen (header));
  memset (buf + 8 + strlen (header), ' ', pad);
  memcpy (buf + 8 + n, data, data_len);
  *len = 8 + n + data_len;
  return buf;
}

static const char good_header[]
    = "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
      "\"z\":{\"dtype\":\"I64\",\"shape\":[0,4],\"data_offsets\":[28,28]}}";

static void
test_parse_good (void)
{
  const float a[6] = { 1, 2, 3, 4, 5, 6 };
  guint8 data[28];
  GError *error = NULL;

  memcpy (data, a, sizeof a);
  memset (data + 24, 0x3c, 4);
  /* Pads 0..7 cover aligned and misaligned data areas (A27). */
  for (gsize pad = 0; pad < 8; pad++) {
    gsize len;
    g_autofree guint8 *file
        = make_file (good_header, pad, data, sizeof data, &len);
    NaclipSafetensors *st = naclip_safetensors_parse (file, len, "m", &error);
    const NaclipTensor *t;

    g_assert_no_error (error);
    g_assert_cmpuint (st->n_tensors, ==, 3);
    g_assert_cmpstr (g_hash_table_lookup (st->metadata, "format"), ==, "pt");
    t = naclip_safetensors_find (st, "a");
    g_assert_nonnull (t);
    g_assert_cmpint (t->dtype, ==, NACLIP_ST_F32);
    g_assert_cmpstr (t->dtype_name, ==, "F32");
    g_assert_cmpuint (t->n_dims, ==, 2);
    g_assert_cmpuint (t->shape[1], ==, 3);
    g_assert_cmpuint (t->n_elements, ==, 6);
    g_assert_true (memcmp (t->data, a, sizeof a) == 0);
    t = naclip_safetensors_find (st, "z");
    g_assert_cmpuint (t->n_elements, ==, 0);
    g_assert_cmpint (t->dtype, ==, NACLIP_ST_I64);
    /* Sorted by offset. */
    g_assert_cmpstr (st->tensors[0].name, ==, "a");
    g_assert_cmpstr (st->tensors[1].name, ==, "b");
    g_assert_null (naclip_safetensors_find (st, "missing"));
    naclip_safetensors_free (st);
  }
}

/* Every single-byte mutation and every truncation of a small valid file
 * either parses or fails cleanly (A33). */
static void
test_mutation_sweep (void)
{
  const guint8 masks[] = { 0x01, 0x02, 0x08, 0x20, 0x80, 0xff };
  guint8 data[28] = { 0 };
  gsize len;
  g_autofree guint8 *file = make_file (good_header, 4, data, sizeof data, &len);
  guint n_ok = 0, n_bad = 0;

  for (gsize i = 0; i < len; i++) {
    for (guint m = 0; m < G_N_ELEMENTS (masks); m++) {
      g_autofree guint8 *copy = g_memdup2 (file, len);
      GError *error = NULL;
      NaclipSafetensors *st;

      copy[i] ^= masks[m];
      st = naclip_safetensors_parse (copy, len, "flip", &error);
      if (st != NULL) {
        g_assert_no_error (error);
        n_ok++;
      } else {
        g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
        n_bad++;
      }
      naclip_safetensors_free (st);
      g_clear_error (&error);
    }
  }
  for (gsize n = 0; n < len; n++) {
    g_autofree guint8 *copy = g_memdup2 (file, MAX (n, 1));
    GError *error = NULL;
    g_assert_null (naclip_safetensors_parse (copy, n, "cut", &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
    g_clear_error (&error);
  }
  g_test_message ("byte flips: %u parsed, %u refused", n_ok, n_bad);
  /* Flips inside the data area and in some name bytes keep it valid. */
  g_assert_cmpuint (n_ok, >, 0);
  g_assert_cmpuint (n_bad, >, 0);
}

/* ------------------------------------------------------------------ */
/* The damaged corpus                                                  */

static char *
corpus_dir (void)
{
  g_autofree char *dir = pyhelper_scratch_dir ("damaged");
  g_autofree char *script
      = g_strdup_printf ("import sys; sys.path.insert(0, '%s/tests/fixtures')\n"
                         "import make_damaged; make_damaged.corpus('corpus')\n",
          NACLIP_SOURCE_ROOT);

  pyhelper_run (dir, script);
  return g_build_filename (dir, "corpus", NULL);
}

static NaclipError
code_from_name (const char *name)
{
  static const char *const names[] = { "IO", "FORMAT", "UNSUPPORTED", "MODEL" };
  static const NaclipError codes[] = { NACLIP_ERROR_IO, NACLIP_ERROR_FORMAT,
    NACLIP_ERROR_UNSUPPORTED, NACLIP_ERROR_MODEL };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    if (strcmp (name, names[i]) == 0)
      return codes[i];
  }
  g_error ("unknown code %s in the manifest", name);
}

/* @message with every occurrence of @path replaced by "@". */
static char *
strip_path (const char *message, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (message, path, -1);
  return g_strjoinv ("@", parts);
}

static void
check_accepted (const char *path, const char *id)
{
  g_autoptr (GMappedFile) file = NULL;
  NaclipSafetensors *st;
  GError *error = NULL;

  file = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  st = naclip_safetensors_parse (
      (const guint8 *)g_mapped_file_get_contents (file),
      g_mapped_file_get_length (file), path, &error);
  if (st == NULL)
    g_error ("%s should parse: %s", id, error->message);
  if (strcmp (id, "A07") == 0 || strcmp (id, "A25") == 0
      || strcmp (id, "A27") == 0) {
    const NaclipTensor *t = naclip_safetensors_find (st, "b");
    float v[4];
    g_assert_nonnull (t);
    memcpy (v, t->data, sizeof v);
    for (int i = 0; i < 4; i++)
      g_assert_cmpfloat (v[i], ==, 6 + i);
    if (strcmp (id, "A27") == 0)
      g_assert_cmpuint ((guintptr)t->data % 4, !=, 0);
  } else if (strcmp (id, "A26") == 0) {
    g_assert_cmpuint (naclip_safetensors_find (st, "s")->n_dims, ==, 0);
    g_assert_cmpuint (naclip_safetensors_find (st, "s")->n_elements, ==, 1);
    g_assert_cmpuint (naclip_safetensors_find (st, "e")->n_elements, ==, 0);
  }
  naclip_safetensors_free (st);
}

/* CPU time of the calling thread, s: unlike wall time it does not depend
 * on what else runs on the machine. */
static double
cpu_time (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_corpus (void)
{
  g_autofree char *dir = corpus_dir ();
  g_autofree char *manifest_path
      = g_build_filename (dir, "manifest.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GHashTable) messages
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GError *error = NULL;
  JsonArray *cases;
  guint n_refused = 0, n_accepted = 0;
  /* Each refusal takes under a second of CPU (the catalogue's error policy);
   * sanitizers and valgrind slow the code down, so NACLIP_TEST_SLOWDOWN
   * scales that. */
  const char *slowdown = g_getenv ("NACLIP_TEST_SLOWDOWN");
  double time_limit = slowdown != NULL ? g_ascii_strtod (slowdown, NULL) : 1.0;

#if defined(__SANITIZE_ADDRESS__)
  time_limit *= 10.0;
#endif
  json_parser_load_from_file (parser, manifest_path, &error);
  g_assert_no_error (error);
  cases = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (cases), >, 100);

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *id = json_object_get_string_member (c, "id");
    const char *rule = json_object_get_string_member (c, "rule");
    const char *rel = json_object_get_string_member (c, "path");
    g_autofree char *path = g_path_is_absolute (rel)
                                ? g_strdup (rel)
                                : g_build_filename (dir, rel, NULL);
    g_autofree char *stripped = NULL;
    const char *needle, *other;
    NaclipModel *model;
    double start, seconds;

    if (json_object_get_boolean_member_with_default (c, "accept", FALSE)) {
      check_accepted (path, id);
      n_accepted++;
      continue;
    }
    needle = json_object_get_string_member (c, "message");
    start = cpu_time ();
    model = naclip_model_load (path, TRUE, &error);
    seconds = cpu_time () - start;
    if (model != NULL)
      g_error ("%s (%s) loaded but must fail with \"%s\"", id, path, needle);
    g_assert_nonnull (error);
    g_test_message ("%s (%.3f s): %s", id, seconds, error->message);
    if (error->domain != NACLIP_ERROR
        || error->code
               != (int)code_from_name (
                   json_object_get_string_member (c, "code")))
      g_error ("%s: wrong error %s/%d (expected %s): %s", id,
          g_quark_to_string (error->domain), error->code,
          json_object_get_string_member (c, "code"), error->message);
    if (strstr (error->message, needle) == NULL)
      g_error ("%s: message \"%s\" does not contain \"%s\"", id, error->message,
          needle);
    if (seconds > time_limit)
      g_error ("%s took %.2f s (limit %.0f s)", id, seconds, time_limit);
    stripped = strip_path (error->message, path);
    other = g_hash_table_lookup (messages, stripped);
    if (other != NULL && strcmp (other, rule) != 0)
      g_error ("rules %s and %s fail with the same message \"%s\"", other, rule,
          stripped);
    g_hash_table_insert (
        messages, g_steal_pointer (&stripped), g_strdup (rule));
    g_clear_error (&error);
    n_refused++;
  }
  g_test_message (
      "%u damaged inputs refused, %u accepted", n_refused, n_accepted);
}

/* NaN/Inf weights load when the scan is off (F01); logit_scale is always
 * checked (B09). */
static void
test_check_weights_off (void)
{
  g_autofree char *dir = corpus_dir ();
  const char *loads[] = { "F01a", "F01b" };
  const char *fails[] = { "B09b", "B09c" };
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (loads); i++) {
    g_autofree char *path = g_build_filename (dir, loads[i], NULL);
    NaclipModel *model = naclip_model_load (path, FALSE, &error);
    g_assert_no_error (error);
    g_assert_nonnull (model);
    naclip_model_unref (model);
  }
  for (guint i = 0; i < G_N_ELEMENTS (fails); i++) {
    g_autofree char *path = g_build_filename (dir, fails[i], NULL);
    g_assert_null (naclip_model_load (path, FALSE, &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "logit_scale"));
    g_clear_error (&error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/strict", test_json_strict);
  g_test_add_func ("/safetensors/parse-good", test_parse_good);
  g_test_add_func ("/safetensors/mutation-sweep", test_mutation_sweep);
  g_test_add_func ("/safetensors/damaged-corpus", test_corpus);
  g_test_add_func ("/safetensors/check-weights-off", test_check_weights_off);
  return g_test_run ();
}
