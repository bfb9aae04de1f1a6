from ninja import NinjaAPI

api = NinjaAPI(title="huitou API", version="1", urls_namespace="api")
