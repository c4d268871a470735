"""YAML profiles: one per model version (v29.yaml, ...) plus small ones for tests and CPU training."""

from profiles.settings import Profile, list_profiles, load_profile, profile_from_dict, profile_to_dict

__all__ = ["Profile", "list_profiles", "load_profile", "profile_from_dict", "profile_to_dict"]
