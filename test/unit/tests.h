/*
 * tests.h  Every unit test, one X(name) line each (an X-macro list).
 * Keep them grouped by file.
 */

/* test_params.c */

/* test_engine.c */
