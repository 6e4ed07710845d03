/* The floor for a spawn round trip on this machine: posix_spawn + wait, no
 * supervisor. With concurrency C, C children are spawned back to back (each
 * posix_spawn returns after the child's exec, as Node's spawn does) and each is
 * timed from its own call to its reaping. Reports the per-call median and mean, the
 * wall time per spawn, and the children's CPU per spawn (RUSAGE_CHILDREN).
 *
 *   cc -O2 -o /tmp/posix_spawn bench/probe/posix_spawn.c
 *   /tmp/posix_spawn target/release/kennel-fixture 8 200    # program, C, batches
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double ms(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PROGRAM CONCURRENCY BATCHES\n", argv[0]);
    return 2;
  }
  int conc = atoi(argv[2]), batches = atoi(argv[3]);
  if (conc < 1 || conc > 256 || batches < 1) return 2;
  double *lat = malloc(sizeof(double) * conc * batches);
  pid_t pids[256];
  double started[256];
  int n = 0;
  double t0 = now_ms();
  for (int b = 0; b < batches; b++) {
    for (int i = 0; i < conc; i++) {
      char *args[] = {argv[1], "exit", "0", NULL};
      started[i] = now_ms();
      if (posix_spawn(&pids[i], argv[1], NULL, NULL, args, environ) != 0) {
        perror("posix_spawn");
        return 1;
      }
    }
    for (int k = 0; k < conc; k++) {
      int status;
      pid_t pid = wait(&status);
      double end = now_ms();
      for (int i = 0; i < conc; i++)
        if (pids[i] == pid) lat[n++] = end - started[i];
    }
  }
  double wall = now_ms() - t0;
  qsort(lat, n, sizeof(double), by_value);
  double sum = 0;
  for (int i = 0; i < n; i++) sum += lat[i];
  struct rusage ch;
  getrusage(RUSAGE_CHILDREN, &ch);
  printf("c%d: per call median %.2f ms, mean %.2f ms; wall per spawn %.3f ms; children's CPU per spawn %.3f ms\n",
         conc, lat[n / 2], sum / n, wall / n, (ms(ch.ru_utime) + ms(ch.ru_stime)) / n);
  return 0;
}
