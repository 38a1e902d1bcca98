/* Fixture: the guest ABI, shared by guest and host. */
#define FIXTURE_EXIT_OK 0
