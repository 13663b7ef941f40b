"""ConvRNN reproduction package."""
