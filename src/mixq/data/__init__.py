"""mixq.data"""
