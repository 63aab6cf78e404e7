"""mixq.search"""
