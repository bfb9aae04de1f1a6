"""Order a day's visits so the trip stays short (DOMAIN §3: visits are planned as routes).

Pure functions: coordinates in, an order and a distance out. No Django here, so the solver is
tested on its own. The route is open (the rep does not have to come back to the first stop), which
OR-Tools models with a dummy end node that every stop reaches at no cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_000.0


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (latitude, longitude) points in degrees."""
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_matrix(points: Sequence[tuple[float, float]]) -> list[list[int]]:
    """Whole metres between every pair of points (the solver works in integers)."""
    n = len(points)
    matrix = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            d = round(haversine_m(points[i], points[j]))
            matrix[i][j] = matrix[j][i] = d
    return matrix


def path_length(matrix: Sequence[Sequence[int]], order: Sequence[int]) -> int:
    return sum(matrix[a][b] for a, b in itertools.pairwise(order))


def _naive(n: int, start: int) -> list[int]:
    return [start, *[i for i in range(n) if i != start]]


def _solve(matrix: Sequence[Sequence[int]], start: int, time_limit_s: float) -> list[int] | None:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(matrix)
    end = n  # the dummy node: reaching it costs nothing, so the route may end anywhere
    manager = pywrapcp.RoutingIndexManager(n + 1, 1, [start], [end])
    routing = pywrapcp.RoutingModel(manager)

    def cost(from_index: int, to_index: int) -> int:
        a, b = manager.IndexToNode(from_index), manager.IndexToNode(to_index)
        if a == end or b == end:
            return 0
        return int(matrix[a][b])

    callback = routing.RegisterTransitCallback(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(callback)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return None
    order: list[int] = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        order.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    return order


def route_order(
    points: list[tuple[float, float]], start: int = 0, *, time_limit_s: float = 1.0
) -> tuple[list[int], int]:
    """Visit order of ``points`` (latitude, longitude) beginning at ``points[start]``, and its
    length in metres. Never longer than visiting the points in the order given."""
    n = len(points)
    if n == 0:
        return [], 0
    if not 0 <= start < n:
        raise ValueError("start is not one of the points")
    matrix = distance_matrix(points)
    naive = _naive(n, start)
    if n <= 2:
        return naive, path_length(matrix, naive)
    # Guided local search runs until the limit: a long day's route gets the whole second, a
    # handful of stops (where it finds the best order at once) a fraction of it.
    order = _solve(matrix, start, min(time_limit_s, 0.05 * n)) or naive
    if path_length(matrix, order) > path_length(matrix, naive):
        order = naive
    return order, path_length(matrix, order)


def legs_m(points: Sequence[tuple[float, float]], order: Sequence[int]) -> list[int]:
    """Metres from the previous stop to each stop of ``order`` (0 for the first)."""
    if not order:
        return []
    out = [0]
    for a, b in itertools.pairwise(order):
        out.append(round(haversine_m(points[a], points[b])))
    return out
