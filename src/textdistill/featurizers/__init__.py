"""Text -> model inputs: word n-gram ids for the DAN, word ids and pretrained vectors for the sequence students."""
