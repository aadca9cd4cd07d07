/* test-header.c: naclip.h compiles on its own, with nothing before it. */
#include "naclip.h"

int
main (void)
{
  NaclipParams p = naclip_params_default ();
  return naclip_params_validate (&p, NULL) ? 0 : 1;
}
