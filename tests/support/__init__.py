"""What the tests use and are not tests themselves: photo bytes, the tiny trained model, the
frozen app's build, stand-ins (speech-dispatcher, an AT-SPI listener), scripts that run in a
process of their own, and the pinning and mutation tools (``python -m tests.support.NAME``)."""
