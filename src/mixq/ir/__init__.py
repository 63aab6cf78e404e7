"""mixq.ir"""
