"""Rights Desk: answers on the International Guidelines on Human Rights and Drug Policy."""

__version__ = "0.1.0"
