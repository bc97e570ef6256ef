/* kiln-job-parker: a job's first process, started ahead of the job by the builder (see kiln_park). A program of
 * its own, linked statically, so that it starts in a fraction of a millisecond and shares nothing with the server. */
#include "CJobSpawn.h"

int main(int argc, char **argv) { return kiln_parker_main(argc, argv); }
