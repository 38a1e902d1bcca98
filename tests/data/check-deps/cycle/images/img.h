/* Fixture: an image format. */
int img_pack(int n);
