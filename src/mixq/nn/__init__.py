"""mixq.nn"""
