// dandan browser client
