"""mixq.train"""
