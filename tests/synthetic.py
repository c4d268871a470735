"""The synthetic songs and tiny model, now owned by the package (training.click_songs) so that
bench/ can use them too; this name stays for tests written against it on other branches."""

from training.click_songs import beat_map, click_track, song_folder, trained_tiny  # noqa: F401
