/* Fixture: a lib/ helper. */
int util_add(int a, int b);
